# The app as one ECS Fargate task (python -m app run: broker unless configured, stream workers,
# scheduler, dashboards) in the private subnets, behind an HTTPS-only load balancer.

resource "aws_secretsmanager_secret" "database_url" {
  # checkov:skip=CKV2_AWS_57:the value is a DSN the operator writes (README); rotating it needs a Lambda that rewrites the DSN and the user's password together, not provided: rotate by putting a new value. The master password is rotated by RDS in its own secret
  name                    = "${var.name}/database-url"
  description             = "AUCTION_DATABASE_URL of the app (PostgreSQL DSN); its value is put once by the operator"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

locals {
  environment = [
    { name = "AUCTION_LAKE_URL", value = "s3://${var.lake_bucket}/${var.lake_prefix}" },
    { name = "AUCTION_BROKER_ADDRESS", value = var.broker_address },
    { name = "AWS_REGION", value = var.region },
    { name = "AUCTION_DASHBOARD_HOST", value = "0.0.0.0" },
    { name = "AUCTION_DASHBOARD_PORT", value = "8501" },
    # the root filesystem is read-only: everything the app writes goes to /data and /tmp
    { name = "AUCTION_STATE_DIR", value = "/data/state" },
    { name = "AUCTION_RUNTIME_DIR", value = "/data/run" },
    { name = "HOME", value = "/tmp" },
  ]
}

resource "aws_ecs_task_definition" "app" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  ephemeral_storage {
    size_in_gib = 50
  }
  volume {
    name = "data"
  }
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "app"
    image                  = var.image
    essential              = true
    command                = ["run"]
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    environment            = local.environment
    secrets                = [{ name = "AUCTION_DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn }]
    portMappings           = [{ containerPort = 8501, protocol = "tcp" }]
    mountPoints = [
      { sourceVolume = "data", containerPath = "/data", readOnly = false },
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
    # SIGTERM drains the workers and runs a last batch: Fargate's longest grace before SIGKILL
    stopTimeout = 120
    healthCheck = {
      command     = ["CMD", "python", "-m", "app", "status"]
      interval    = 30
      timeout     = 15
      retries     = 3
      startPeriod = 90
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.app.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "app"
      }
    }
  }])
}

resource "aws_ecs_service" "app" {
  name             = "app"
  cluster          = aws_ecs_cluster.this.id
  task_definition  = aws_ecs_task_definition.app.arn
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  # one process owns the scheduler and the embedded broker: never two tasks at once
  desired_count                      = 1
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  health_check_grace_period_seconds  = 120
  enable_execute_command             = false

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.dashboards.arn
    container_name   = "app"
    container_port   = 8501
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  depends_on = [aws_lb_listener.https]
}

# ---- security groups ------------------------------------------------------------------------------

resource "aws_security_group" "task" {
  name        = "${var.name}-app"
  description = "The app task: dashboards from the load balancer only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "task_from_alb" {
  security_group_id            = aws_security_group.task.id
  description                  = "Dashboards from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = 8501
  to_port                      = 8501
}

resource "aws_vpc_security_group_egress_rule" "task_https" {
  security_group_id = aws_security_group.task.id
  description       = "HTTPS to AWS APIs (ECR, S3, Secrets Manager, CloudWatch) through the NAT"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "task_vpc" {
  security_group_id = aws_security_group.task.id
  description       = "PostgreSQL and a Kafka broker inside the VPC"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = 1024
  to_port           = 65535
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Load balancer: HTTPS from the allowed CIDRs only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(var.allowed_ingress_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from ${each.value}"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_task" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the dashboards of the app task"
  referenced_security_group_id = aws_security_group.task.id
  ip_protocol                  = "tcp"
  from_port                    = 8501
  to_port                      = 8501
}
