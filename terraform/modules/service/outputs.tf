output "load_balancer_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "security_group_id" {
  description = "Security group of the app task (the database admits it)."
  value       = aws_security_group.task.id
}

output "database_url_secret_arn" {
  description = "Secret holding AUCTION_DATABASE_URL."
  value       = aws_secretsmanager_secret.database_url.arn
}

output "task_role_arn" {
  description = "IAM role of the app task."
  value       = aws_iam_role.task.arn
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "ECS service name."
  value       = aws_ecs_service.app.name
}
