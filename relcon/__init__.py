"""RelCon: relative contrastive learning for a motion foundation model for wearable data."""

__version__ = "0.1.0"
