"""HTTP routes: thin, they call the services. ``create_app`` builds the FastAPI application."""

from openwork.api.app import create_app
from openwork.api.context import AppContext

__all__ = ["AppContext", "create_app"]
