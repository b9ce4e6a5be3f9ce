terraform {
  # 1.9: validations that compare variables; 1.7: mock providers in terraform test
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }

  # State: keep it remote and locked for real use, e.g.
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "auction/terraform.tfstate"
  #   region       = "eu-west-1"
  #   use_lockfile = true
  #   encrypt      = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = var.project
      environment = var.environment
      managed-by  = "terraform"
    }
  }
}
