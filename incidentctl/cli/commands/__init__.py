"""One module per command (``new``/``update``/``resolve`` share theirs: ``incidents``); each has ``register(app)``."""
