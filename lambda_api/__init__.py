"""The scoring API: FastAPI on AWS Lambda through Mangum, serving the torch-free model artifact.

``lambda_api.app`` wires the app and the Lambda ``handler``; the modules beside it each do one
job (settings, request models, model loading, the scoring service, JSON request logs, Lambda
event handlers). Nothing here imports torch or pandas: the Lambda zip stays small and starts fast.
"""
