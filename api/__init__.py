"""The composition root: HTTP service, CLI, settings, storage adapters and web pages."""
