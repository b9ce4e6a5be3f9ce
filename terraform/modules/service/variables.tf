variable "name" {
  description = "Name prefix of the service's resources."
  type        = string
}

variable "region" {
  description = "AWS region (for the log configuration and ARNs)."
  type        = string
}

variable "account_id" {
  description = "AWS account id (for ARNs)."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the service."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (the task reaches the database and a broker inside it)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the app task."
  type        = list(string)
}

variable "allowed_ingress_cidrs" {
  description = "CIDRs allowed to reach the load balancer on 443."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener."
  type        = string
}

variable "image" {
  description = "Container image of the app."
  type        = string
}

variable "cpu" {
  description = "Fargate CPU units."
  type        = number
}

variable "memory" {
  description = "Fargate memory (MiB)."
  type        = number
}

variable "broker_address" {
  description = "Kafka bootstrap servers; empty for the embedded broker."
  type        = string
}

variable "lake_bucket" {
  description = "Name of the lake bucket."
  type        = string
}

variable "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  type        = string
}

variable "lake_prefix" {
  description = "The only prefix of the lake bucket the app may read and write."
  type        = string
}

variable "logs_bucket" {
  description = "Bucket receiving the load balancer's access logs (under alb/)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the lake, the secret and the log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days the app's logs are kept."
  type        = number
}
