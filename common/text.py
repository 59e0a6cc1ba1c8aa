"""Text that the databases cannot store: PostgreSQL's text and JSON types refuse the NUL character."""

NUL = "\x00"
NUL_MESSAGE = "contains a NUL character (\\u0000), which cannot be stored"
