variable "project" {
  description = "Name prefix of every resource (lower case letters, digits and dashes, 3-20 characters)."
  type        = string
  default     = "auction"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,19}$", var.project))
    error_message = "The project must be 3-20 characters of lower case letters, digits and dashes, starting with a letter (it prefixes bucket and role names)."
  }
}

variable "environment" {
  description = "Deployment environment: dev, staging or prod."
  type        = string
  default     = "dev"

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "The environment must be one of dev, staging or prod."
  }
}

variable "region" {
  description = "AWS region to deploy into, e.g. eu-west-1."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^(us|eu|ap|ca|sa|me|af|il|mx)(-gov)?-(north|south|east|west|central|northeast|southeast|northwest|southwest)-[1-9]$", var.region))
    error_message = "The region must be an AWS region name such as eu-west-1 or us-east-2 (got something else)."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC, a private range of size /16 to /24; it is split into two public and two private subnets."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && can(regex("^(10\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.|192\\.168\\.)", var.vpc_cidr))
    error_message = "The vpc_cidr must be a valid IPv4 CIDR in a private range (10/8, 172.16/12 or 192.168/16), e.g. 10.40.0.0/16."
  }

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)
    error_message = "The vpc_cidr prefix length must be between /16 and /24 (four subnets are carved out of it)."
  }
}

variable "allowed_ingress_cidrs" {
  description = "IPv4 CIDRs allowed to reach the dashboards over HTTPS (the dashboards have no login of their own: keep this narrow)."
  type        = list(string)

  validation {
    condition     = length(var.allowed_ingress_cidrs) > 0 && alltrue([for c in var.allowed_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "The allowed_ingress_cidrs must be a non-empty list of valid IPv4 CIDRs, e.g. [\"203.0.113.0/24\"]."
  }
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate the load balancer serves the dashboards with (HTTPS only)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "The certificate_arn must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)."
  }
}

variable "image" {
  description = "Container image of the app (built from the repository's Dockerfile), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/auction:1.0.0."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$", var.image))
    error_message = "The image must be REGISTRY/REPOSITORY:TAG or @sha256:DIGEST, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/auction:1.0.0."
  }
}

variable "app_cpu" {
  description = "Fargate CPU units of the app task (1024 = one vCPU)."
  type        = number
  default     = 2048

  validation {
    condition     = contains([512, 1024, 2048, 4096, 8192], var.app_cpu)
    error_message = "The app_cpu must be one of the Fargate sizes 512, 1024, 2048, 4096 or 8192."
  }
}

variable "app_memory" {
  description = "Memory (MiB) of the app task; must fit Fargate's range for app_cpu."
  type        = number
  default     = 8192

  validation {
    condition     = var.app_memory >= 1024 && var.app_memory <= 61440 && var.app_memory % 1024 == 0
    error_message = "The app_memory must be a whole number of GiB in MiB between 1024 and 61440."
  }
}

variable "broker_address" {
  description = "Kafka bootstrap servers (Redpanda, MSK) for the app; empty runs the embedded broker inside the task (its topics live in memory)."
  type        = string
  default     = ""

  validation {
    condition     = var.broker_address == "" || alltrue([for s in split(",", var.broker_address) : can(regex("^[A-Za-z0-9.-]+:[0-9]+$", trimspace(s)))])
    error_message = "The broker_address must be empty or comma-separated host:port pairs."
  }
}

variable "lake_prefix" {
  description = "Prefix inside the lake bucket under which the app writes (its IAM role may touch nothing else)."
  type        = string
  default     = "lake"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{0,62}$", var.lake_prefix))
    error_message = "The lake_prefix must be one path segment of lower case letters, digits, '_' or '-' (no slashes)."
  }
}

variable "lake_infrequent_access_days" {
  description = "Days after which lake objects move to S3 Standard-IA."
  type        = number
  default     = 30

  validation {
    condition     = var.lake_infrequent_access_days >= 30
    error_message = "S3 accepts Standard-IA transitions only after at least 30 days."
  }
}

variable "lake_glacier_days" {
  description = "Days after which lake objects move to Glacier Instant Retrieval (must be after the Standard-IA transition)."
  type        = number
  default     = 180

  validation {
    condition     = var.lake_glacier_days >= var.lake_infrequent_access_days + 30
    error_message = "The lake_glacier_days must be at least lake_infrequent_access_days + 30 (S3 keeps objects 30 days in Standard-IA first)."
  }
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database, e.g. db.t4g.medium or db.m7g.large."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = can(regex("^db\\.(t3|t4g|m5|m6g|m6i|m7g|m7i|r5|r6g|r6i|r7g|r7i)\\.(micro|small|medium|large|[0-9]*xlarge)$", var.db_instance_class))
    error_message = "The db_instance_class must be an RDS PostgreSQL class such as db.t4g.medium or db.m7g.large (family t3, t4g, m5-m7, r5-r7)."
  }
}

variable "db_allocated_storage_gb" {
  description = "Initial storage of the database in GiB (storage autoscaling may grow it up to 10x)."
  type        = number
  default     = 50

  validation {
    condition     = var.db_allocated_storage_gb >= 20 && var.db_allocated_storage_gb <= 6000
    error_message = "The db_allocated_storage_gb must be between 20 and 6000 GiB."
  }
}

variable "db_backup_retention_days" {
  description = "Days RDS keeps automated backups (1-35)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "The db_backup_retention_days must be between 1 and 35 (0 would turn backups off)."
  }
}

variable "db_multi_az" {
  description = "Run the database with a standby in a second availability zone."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the app's, the VPC's and the database's logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be a CloudWatch retention of at least a year: 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}
