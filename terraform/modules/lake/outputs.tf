output "bucket_name" {
  description = "Name of the lake bucket."
  value       = aws_s3_bucket.lake.id
}

output "bucket_arn" {
  description = "ARN of the lake bucket."
  value       = aws_s3_bucket.lake.arn
}

output "logs_bucket_name" {
  description = "Name of the access-log bucket (the load balancer logs under alb/)."
  value       = aws_s3_bucket.logs.id
}
