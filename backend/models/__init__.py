"""Trained models: ONNX export, model cards, prediction, and their routes."""
