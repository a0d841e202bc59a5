"""Optional integrations with other tools, each importing its tool lazily: logloss without
the tool's extra imports and works, and asks for the extra only when the tool is used.

- :mod:`.mlflow`: a training run's parameters, metrics and model in MLflow, a registered
  model version per run, and the ``champion`` alias following promotions
  (``pip install 'logloss[mlflow]'``).
"""
