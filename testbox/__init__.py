"""The ICAT testbox: a light ICAT 6.2 server for the unmodified python-icat client."""
