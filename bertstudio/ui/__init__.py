"""The no-code app: a thin Gradio client over the engine.

Only this package imports gradio.  Pure builders (``charts``, ``tables``,
``advice``, ``progress``, ``settings``) take engine results and return figures,
tables and text, so they are tested without a browser; the ``*_tab`` modules
only wire them to components.
"""

import os

# The app must work offline: no usage statistics sent home from the server.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
