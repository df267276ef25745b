"""The dashboard's views, one module a page."""
