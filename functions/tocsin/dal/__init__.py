"""Persistence: the DynamoDB single table and the S3 artifact bucket."""
