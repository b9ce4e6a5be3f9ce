# The auction pipeline on AWS: one ECS Fargate task running the image (python -m app run) behind an
# HTTPS load balancer, the lake on S3, gold published to RDS PostgreSQL, secrets in Secrets Manager.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# two zones named explicitly, so the subnets never move when AWS adds a zone
data "aws_availability_zones" "available" {
  state = "available"
  filter {
    name   = "zone-name"
    values = ["${var.region}a", "${var.region}b"]
  }
}

locals {
  name       = "${var.project}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  azs        = slice(data.aws_availability_zones.available.names, 0, 2)
}

# One customer-managed key for the lake, the database, the secrets and the logs.
resource "aws_kms_key" "main" {
  description             = "${local.name}: lake, database, secrets and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:in a key policy Resource "*" is this key alone; administration stays with the account root
  # checkov:skip=CKV_AWS_111:in a key policy Resource "*" is this key alone; writes stay with the account root
  # checkov:skip=CKV_AWS_356:in a key policy Resource "*" is this key alone
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncrypt"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
  }
}

module "network" {
  source             = "./modules/network"
  name               = local.name
  cidr               = var.vpc_cidr
  azs                = local.azs
  kms_key_arn        = aws_kms_key.main.arn
  log_retention_days = var.log_retention_days
}

module "lake" {
  source                 = "./modules/lake"
  name                   = local.name
  account_id             = local.account_id
  kms_key_arn            = aws_kms_key.main.arn
  infrequent_access_days = var.lake_infrequent_access_days
  glacier_days           = var.lake_glacier_days
}

module "database" {
  source                    = "./modules/database"
  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  instance_class            = var.db_instance_class
  allocated_storage_gb      = var.db_allocated_storage_gb
  backup_retention_days     = var.db_backup_retention_days
  multi_az                  = var.db_multi_az
  kms_key_arn               = aws_kms_key.main.arn
  allowed_security_group_id = module.service.security_group_id
}

module "service" {
  source                = "./modules/service"
  name                  = local.name
  region                = var.region
  account_id            = local.account_id
  partition             = data.aws_partition.current.partition
  vpc_id                = module.network.vpc_id
  vpc_cidr              = var.vpc_cidr
  public_subnet_ids     = module.network.public_subnet_ids
  private_subnet_ids    = module.network.private_subnet_ids
  allowed_ingress_cidrs = var.allowed_ingress_cidrs
  certificate_arn       = var.certificate_arn
  image                 = var.image
  cpu                   = var.app_cpu
  memory                = var.app_memory
  broker_address        = var.broker_address
  lake_bucket           = module.lake.bucket_name
  lake_bucket_arn       = module.lake.bucket_arn
  lake_prefix           = var.lake_prefix
  logs_bucket           = module.lake.logs_bucket_name
  kms_key_arn           = aws_kms_key.main.arn
  log_retention_days    = var.log_retention_days
}
