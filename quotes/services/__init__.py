"""Quote services: pricing (pure), lifecycle (state transitions), approvals, acceptance, documents."""
