"""Search: options (layouts with their cost-model coefficients) and the CP-SAT models
that choose among them. Sees coefficients, not formulas; imports inputs and physics."""
