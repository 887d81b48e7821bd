"""qualcode: code interview transcripts against a codebook."""
