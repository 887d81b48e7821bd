"""Page modules. Each module that defines ``router`` is included by ``pipeline.web.app.create_app``."""
