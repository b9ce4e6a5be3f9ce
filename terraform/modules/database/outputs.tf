output "endpoint" {
  description = "host:port of the database."
  value       = aws_db_instance.this.endpoint
}

output "resource_id" {
  description = "RDS resource id (the rds-db:connect ARN names it)."
  value       = aws_db_instance.this.resource_id
}

output "master_secret_arn" {
  description = "Secrets Manager secret of the master credentials (managed by RDS)."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}
