"""The web review of a case: a FastAPI application (:func:`lanterne.web.app.create_app`) with
server-rendered pages, a JSON API and audited media, behind sessions, CSRF and roles."""
