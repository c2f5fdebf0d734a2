"""The directory the ``python`` image puts on ``PYTHONPATH``: only its ``sitecustomize`` matters."""
