"""The Pulumi program of fraud-mlops: one ComponentResource per concern, composed by __main__."""
