"""``pacer dashboard``: the message journal's web page for operators.

``app`` has the pages, ``auth`` who may see them, ``security`` the headers and CSRF
tokens, ``queues`` the broker's queue depths, ``present`` what makes journal facts (and
hostile message text) readable. Flower stays the live view of tasks; each step links to
its task there.
"""
