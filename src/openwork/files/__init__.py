"""Safe remote file access to a workspace: path rules, fd-relative operations, catalog, change log, sessions."""
