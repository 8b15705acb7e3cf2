mock_resource "aws_vpc_endpoint" {
  defaults = {
    id    = "vpce-0123456789abcdef0"
    state = "pendingAcceptance"
    dns_entry = [
      {
        dns_name       = "vpce-0123456789abcdef0-abcdefgh.vpce-svc-0123456789abcdef0.eu-west-1.vpce.amazonaws.com"
        hosted_zone_id = "Z38GZ743OKFT7T"
      },
    ]
  }
}

mock_resource "aws_route53_zone" {
  defaults = {
    zone_id = "Z0123456789ABCDEFGHIJ"
  }
}

# The gateway's endpoint service as the client account describes it: zone
# names in this account's naming, mapped to zone IDs below.
mock_data "aws_vpc_endpoint_service" {
  defaults = {
    availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  }
}

mock_data "aws_availability_zones" {
  defaults = {
    names    = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    zone_ids = ["euw1-az3", "euw1-az1", "euw1-az2"]
  }
}

mock_data "aws_subnet" {
  defaults = {
    availability_zone_id = "euw1-az1"
  }
}
