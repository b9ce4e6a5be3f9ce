output "dashboards_url" {
  description = "HTTPS address of the dashboards (point a DNS name of the certificate at load_balancer_dns_name)."
  value       = "https://${module.service.load_balancer_dns_name}"
}

output "load_balancer_dns_name" {
  description = "DNS name of the load balancer serving the dashboards."
  value       = module.service.load_balancer_dns_name
}

output "lake_url" {
  description = "AUCTION_LAKE_URL the app is configured with."
  value       = "s3://${module.lake.bucket_name}/${var.lake_prefix}"
}

output "lake_bucket" {
  description = "Name of the lake bucket (versioned, SSE-KMS, public access blocked)."
  value       = module.lake.bucket_name
}

output "logs_bucket" {
  description = "Name of the bucket that receives the lake's and the load balancer's access logs."
  value       = module.lake.logs_bucket_name
}

output "database_endpoint" {
  description = "Host:port of the RDS PostgreSQL instance (private subnets only)."
  value       = module.database.endpoint
}

output "database_master_secret_arn" {
  description = "Secrets Manager secret holding the RDS master credentials (managed and rotated by RDS)."
  value       = module.database.master_secret_arn
}

output "database_url_secret_arn" {
  description = "Secrets Manager secret the app reads AUCTION_DATABASE_URL from: put the app user's DSN in it once (see the README)."
  value       = module.service.database_url_secret_arn
}

output "app_task_role_arn" {
  description = "IAM role of the app task: read/write on the lake bucket's prefix only."
  value       = module.service.task_role_arn
}

output "ecs_cluster_name" {
  description = "ECS cluster running the app service."
  value       = module.service.cluster_name
}

output "ecs_service_name" {
  description = "ECS service of the app (one task: the app is one process with its own scheduler)."
  value       = module.service.service_name
}
