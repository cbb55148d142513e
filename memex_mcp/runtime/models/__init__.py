"""Model providers for sub-agents, behind one narrow interface (`base.Model`)."""
