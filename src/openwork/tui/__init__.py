"""The ``openwork start`` dashboard: pure render functions, an HTTP data source, and a thin Textual app."""
