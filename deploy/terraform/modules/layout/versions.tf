# This module computes names, the node layout and the container sizing of a
# Strata deployment from its inputs. It declares no provider and creates no
# resource, so `terraform init`, `validate` and `test` run offline.
terraform {
  required_version = ">= 1.11"
}
