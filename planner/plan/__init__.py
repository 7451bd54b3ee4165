"""Plan: turning a search result into the plan document (aggregated, disaggregated,
fleet), and reading plans back (export to serving-engine launch commands)."""
