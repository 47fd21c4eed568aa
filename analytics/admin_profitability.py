"""Admin of the profitability inputs (service costs, support volumes, acquisition spend)."""
