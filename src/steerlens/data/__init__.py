"""Image loading and datasets: files and bundled photos (``images``), synthetic families, MNIST."""
