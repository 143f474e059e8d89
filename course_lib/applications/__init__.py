"""Chapter 08's applications: music models, data augmentation and synthetic data, scaling fits."""
