terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
  }

  # Keep the state somewhere shared and encrypted for a real deployment, e.g.:
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "strata/terraform.tfstate"
  #   region       = "us-east-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}
