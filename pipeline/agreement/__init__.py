"""Inter-coder agreement: coefficients, per-code and per-theme reports, disagreements, adjudication."""
