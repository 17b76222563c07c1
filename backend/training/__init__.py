"""What a run is asked to do: every run option declared once (``config.TrainConfig``), the
options read from it for the form, the API and the CLI, and the named recipes."""
