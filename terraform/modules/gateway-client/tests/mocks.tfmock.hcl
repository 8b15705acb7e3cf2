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
