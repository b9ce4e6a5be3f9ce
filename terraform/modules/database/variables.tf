variable "name" {
  description = "Name prefix of the database's resources."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two availability zones) of the database."
  type        = list(string)
}

variable "allowed_security_group_id" {
  description = "Security group (the app task's) allowed to connect on 5432."
  type        = string
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "allocated_storage_gb" {
  description = "Initial storage in GiB."
  type        = number
}

variable "backup_retention_days" {
  description = "Days of automated backups."
  type        = number
}

variable "multi_az" {
  description = "Whether to keep a standby in a second availability zone."
  type        = bool
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights and the master secret."
  type        = string
}
