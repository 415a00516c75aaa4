"""Data: watchers that keep task and node tables current, file tails, typed DataFrames. pandas, no UI."""
