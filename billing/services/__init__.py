"""Billing services: usage ingest, charges, bill runs, invoices, tax, payments, credit notes, dunning."""
