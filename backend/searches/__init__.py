"""Budget-aware searches with Optuna (space, engine, views, figures, presets)."""
