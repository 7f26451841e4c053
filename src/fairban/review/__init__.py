"""Review: the console's users, the queue by priority, decisions with four eyes."""
