"""The typed answers of the API, one module per area. Each is a ``WireModel`` (camelCase on the wire);
what describes a domain object (a workspace, a token, a service's status) lives next to that object and
is re-used here, so the domain packages never import the HTTP layer."""
