"""ICAT access for the flows: the process's session, the query helper, cached reference
data, and the classification of python-icat's errors into transient and permanent."""
