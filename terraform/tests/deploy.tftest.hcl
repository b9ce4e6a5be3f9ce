# `terraform test` with a mocked AWS provider: no account, no network. It applies the whole configuration
# against the mock (checking that every module wires up and that the secure settings are what reaches
# the resources), and proves that each validated variable refuses a bad value.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b"] }
  }
  mock_data "aws_elb_service_account" {
    defaults = { arn = "arn:aws:iam::156460612806:root" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mocked-bucket" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:auction-dev/database-url-AbCdEf" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mocked" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:mocked" }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn      = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/auction-dev/0123456789abcdef"
      dns_name = "auction-dev-123.eu-west-1.elb.amazonaws.com"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/auction-dev-dash/0123456789abcdef" }
  }
  mock_resource "aws_wafv2_web_acl" {
    defaults = { arn = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/auction-dev/abc" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/auction-dev:1" }
  }
}

variables {
  allowed_ingress_cidrs = ["203.0.113.0/24"]
  certificate_arn       = "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-123456789012"
  image                 = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/auction:1.0.0"
}

run "whole_stack_applies_with_secure_defaults" {
  command = apply

  assert {
    condition     = output.lake_url == "s3://${output.lake_bucket}/lake"
    error_message = "the app must be pointed at the lake bucket's prefix"
  }
  assert {
    condition     = output.dashboards_url == "https://auction-dev-123.eu-west-1.elb.amazonaws.com"
    error_message = "the dashboards must be served over HTTPS by the load balancer"
  }
  assert {
    condition     = aws_kms_key.main.enable_key_rotation
    error_message = "the customer-managed key must rotate"
  }
}

# one plan with every validated variable wrong (one provider start instead of one per variable):
# each of them must be refused by its own validation rule
run "bad_variables_are_refused" {
  command = plan
  variables {
    region                   = "europe-1"
    db_instance_class        = "m5.large"
    vpc_cidr                 = "8.8.0.0/16"
    allowed_ingress_cidrs    = ["everyone"]
    certificate_arn          = "my-cert"
    image                    = "auction"
    db_backup_retention_days = 0
    app_cpu                  = 300
    log_retention_days       = 7
    lake_glacier_days        = 40
  }
  expect_failures = [
    var.region,
    var.db_instance_class,
    var.vpc_cidr,
    var.allowed_ingress_cidrs,
    var.certificate_arn,
    var.image,
    var.db_backup_retention_days,
    var.app_cpu,
    var.log_retention_days,
    var.lake_glacier_days,
  ]
}

run "cidr_must_parse_and_fit_four_subnets" {
  command = plan
  variables {
    vpc_cidr = "10.0.0.0/8"
  }
  expect_failures = [var.vpc_cidr]
}
