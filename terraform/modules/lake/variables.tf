variable "name" {
  description = "Name prefix of the buckets."
  type        = string
}

variable "account_id" {
  description = "AWS account id (makes the bucket names globally unique)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the lake bucket."
  type        = string
}

variable "infrequent_access_days" {
  description = "Days after which objects move to Standard-IA."
  type        = number
}

variable "glacier_days" {
  description = "Days after which objects move to Glacier Instant Retrieval."
  type        = number
}
