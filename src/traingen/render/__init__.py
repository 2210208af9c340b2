"""Domain randomization: randomized 3D scenes rendered into exactly annotated images (Tremblay et al. 2018)."""
