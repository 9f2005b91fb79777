"""Tooling and test support outside the Pulumi program: what `pulumi up` never runs.

``pulumi_mocks`` runs the program under Pulumi's mock runtime; ``stack_files`` reads
``stacks/Pulumi.<stack>.yaml`` offline. ``scripts/plan.py`` and the tests share both.
"""
